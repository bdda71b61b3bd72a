import chalk, {Chalk, type ChalkInstance} from 'chalk'

/**
 * The colour functions for output on `stream`: none when NO_COLOR is set (any value, see
 * no-color.org) or the stream is not a TTY; chalk's own detection otherwise.
 */
export function colors(stream: NodeJS.WriteStream = process.stdout): ChalkInstance {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return new Chalk({level: 0})
  if (!stream.isTTY && !process.env.FORCE_COLOR) return new Chalk({level: 0})
  return chalk
}

/** ✓ or ✗ with colour when allowed. */
export function mark(ok: boolean, c: ChalkInstance = colors()): string {
  return ok ? c.green('✓') : c.red('✗')
}
