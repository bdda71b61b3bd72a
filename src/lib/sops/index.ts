/**
 * The SOPS engine (getsops/sops 3.10 file format with age): `.sops.yaml` creation rules, the
 * key-less metadata reader, decrypting with MAC verification, and writing files sops and Flux read.
 * See the module files for the format sources.
 */
export {type AgeIdentity, generateIdentity, loadIdentities, type LoadIdentitiesOptions, parseIdentities} from '../age/identities.js'
export {type CreationRule, creationRulePath, findSopsConfig, loadSopsConfig, matchCreationRule, parseSopsConfig, requireCreationRule, SOPS_CONFIG_NAMES, type SopsConfig} from './creation-rules.js'
export {type DecryptedSops, decryptSopsText, encryptDecrypted, SOPS_VERSION} from './engine.js'
export {SopsConfigError, SopsError} from './errors.js'
export {
  createSopsFile,
  type CreateSopsFileOptions,
  creationRuleFor,
  type DecryptedSopsFile,
  decryptSopsFile,
  encryptDocumentText,
  type EncryptTextOptions,
  rotateSopsFile,
  type RuleSource,
  setSopsValues,
  type SetSopsValuesOptions,
  type SetSopsValuesResult,
  updateSopsKeys,
  type UpdateKeysResult,
} from './files.js'
export {goRegExp} from './go-regexp.js'
export {formatKeyPath, nodeAt, parseKeyPath} from './key-path.js'
export {type AgeStanza, formatOfFile, isSopsFile, metadataOfDocument, readSopsMetadata, type SopsFormat, type SopsMetadata} from './metadata.js'
