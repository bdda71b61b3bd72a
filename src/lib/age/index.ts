/** age identities (sops key discovery) and the data-key layer of SOPS files (typage `age-encryption`). */
export {AgeDecryptError, unwrapDataKey, wrapDataKey} from './data-key.js'
export {type AgeIdentity, AgeIdentityError, defaultKeyFile, formatIdentity, generateIdentity, loadIdentities, type LoadIdentitiesOptions, parseIdentities} from './identities.js'
export {assertKeyFileOutsideGitWorkTree, gitWorkTreeOf} from './key-file-location.js'
