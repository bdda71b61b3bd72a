import {Flags} from '@oclif/core'

import {HomelabCommand} from '../../base-command.js'
import type {OutdatedReport} from '../../lib/registry/outdated.js'
import {colors} from '../../ui/color.js'

/**
 * What `homelab app outdated --json` prints (schemas/app-outdated.schema.json): the
 * {@link OutdatedReport} with `schemaVersion: 1`.
 */
export interface AppOutdatedResult extends OutdatedReport {
  schemaVersion: 1
}

export default class AppOutdated extends HomelabCommand {
  static override summary = 'For each container image in the tree, the newest tag of the same version scheme in its registry.'

  static override description = `Reads every image: of the containers, initContainers and ephemeralContainers under the cluster folder (homelab.yaml cluster.path) and asks each image's registry for its tags through the OCI distribution API (GET /v2/<name>/tags/list, following Link pagination, with an anonymous bearer token when the registry asks for one; no credentials are sent). Docker Hub names are normalised as docker pull does (nginx is docker.io/library/nginx, asked at registry-1.docker.io). A loopback registry (localhost, 127.0.0.0/8) is asked over plain HTTP, every other one over HTTPS.

A newer tag keeps the scheme of the current one: the same prefix, the same number of numeric parts and the same suffix (v1.2.3 stays v-prefixed with three parts, 1.2 stays two parts, 1.2.3-alpine stays -alpine), and pre-releases (-rc.1, -beta2) are offered only when the current tag is one. When the tree pins a digest (image@sha256:…), the update is reported with the new tag's digest, read with a HEAD of its manifest. Tags without a version (latest) are listed as unversioned.

When a registry cannot be reached or refuses, the image is reported as not checked, with the reason, and the exit code is 1: nothing is guessed. With --exit-code, outdated images also exit 1. Nothing is written: apply an update with homelab app update.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Every image with its newest tag.'},
    {command: '<%= config.bin %> <%= command.id %> --json', description: 'The same as JSON: images[] with status, latest, latestDigest and the update reference.'},
    {command: '<%= config.bin %> <%= command.id %> --exit-code >/dev/null || echo "updates available (or a registry could not be asked)"', description: 'For a scheduled check.'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    'exit-code': Flags.boolean({description: 'exit 1 when any image is outdated (always 1 when a registry could not be asked)', default: false}),
  }

  async run(): Promise<AppOutdatedResult> {
    const {flags} = await this.parse(AppOutdated)
    const homelab = await this.homelab(flags.repo)
    const {checkOutdated, imagesInTree} = await import('../../lib/registry/outdated.js')
    const images = await imagesInTree(homelab.root, homelab.config.cluster.path)
    if (!this.jsonEnabled() && process.stderr.isTTY) process.stderr.write(`asking the registries of ${images.size} images…\n`)
    const report = await checkOutdated(images)
    if (!this.jsonEnabled()) {
      const {renderOutdated} = await import('../../ui/app-outdated.js')
      this.log(renderOutdated(report, colors()))
    }

    if (report.unchecked > 0 || (flags['exit-code'] && report.outdated > 0)) process.exitCode = 1
    return {schemaVersion: 1, ...report}
  }
}
