// Preloaded into the CLI under test (NODE_OPTIONS=--require …): records everything the laptop
// side sends over SSH (each exec'd command line, and every chunk written to a channel's stdin)
// as JSON lines in HOMELAB_TEST_SSH_LOG, so a test can assert what never travels; and every file
// this process opens or reads under /var/lib/sops-nix ({read: path}), which it never should.
'use strict'
const fs = require('node:fs')
const {Client} = require('ssh2')

const log = process.env.HOMELAB_TEST_SSH_LOG
const record = (entry) => fs.appendFileSync(log, JSON.stringify(entry) + '\n')
const watched = (file) => typeof file === 'string' && file.includes('/var/lib/sops-nix')
const wrap = (target, name) => {
  const original = target[name]
  target[name] = function (file, ...args) {
    if (watched(file)) record({read: file})
    return original.call(this, file, ...args)
  }
}
for (const name of ['open', 'openSync', 'readFile', 'readFileSync', 'createReadStream']) wrap(fs, name)
for (const name of ['open', 'readFile']) wrap(fs.promises, name)

const exec = Client.prototype.exec
Client.prototype.exec = function (command, ...rest) {
  record({command})
  const callback = rest.pop()
  rest.push((error, channel) => {
    if (channel) {
      const write = channel.write.bind(channel)
      channel.write = (chunk, ...args) => {
        record({stdin: String(chunk)})
        return write(chunk, ...args)
      }
    }
    callback(error, channel)
  })
  return exec.call(this, command, ...rest)
}
