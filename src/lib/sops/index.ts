/**
 * The SOPS engine: `.sops.yaml` creation rules, the metadata reader, and (below) decrypting and
 * writing SOPS files with age. Format: getsops/sops v3.10 (see docs in the module files).
 */
export {type CreationRule, creationRulePath, findSopsConfig, loadSopsConfig, matchCreationRule, parseSopsConfig, requireCreationRule, SOPS_CONFIG_NAMES, type SopsConfig} from './creation-rules.js'
export {SopsConfigError, SopsError} from './errors.js'
export {goRegExp} from './go-regexp.js'
export {type AgeStanza, formatOfFile, isSopsFile, metadataOfDocument, readSopsMetadata, type SopsFormat, type SopsMetadata} from './metadata.js'
