/**
 * The SOPS engine (getsops/sops 3.10 file format with age): `.sops.yaml` creation rules, the
 * key-less metadata reader, decrypting with MAC verification, and writing files sops and Flux read.
 * See the module files for the format sources.
 */
export {type AgeIdentity, generateIdentity, loadIdentities, type LoadIdentitiesOptions, parseIdentities} from '../age/identities.js'
export {type CreationRule, creationRulePath, describeCreationRule, findSopsConfig, hasSopsFileName, loadSopsConfig, matchCreationRule, parseSopsConfig, requireCreationRule, SOPS_CONFIG_NAMES, type SopsConfig, unusedCreationRules} from './creation-rules.js'
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
  planRotateSopsFile,
  planUpdateSopsKeys,
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
export {checkSecrets, type CheckInput, type SecretsCheckReport, type SecretsFinding} from './check.js'
export {editSopsFile, type EditResult, type EditSessionOptions} from './edit-session.js'
export {listSopsFiles} from './repo.js'
export {type SopsBatch, sopsBatch, type SopsBatchOptions, type SopsTarget, writeSopsBatch} from './batch.js'
export {mapLimit, SOPS_FILE_CONCURRENCY} from './pool.js'
export {ROTATE_KEY_STEPS, rotateKey, type RotateKeyOptions, type RotateKeyRemote, type RotateKeyResult, type RotateKeyState, type RotateKeyStep, rotateKeyStateFile} from './rotate-key.js'
