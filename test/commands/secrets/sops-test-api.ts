/** Engine functions the command tests use to inspect results. */
export {generateIdentity, readSopsMetadata} from '../../../src/lib/sops/index.js'
export {listSopsFiles as listSopsFilesForTest} from '../../../src/lib/sops/repo.js'
