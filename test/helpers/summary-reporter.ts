import type {Reporter, TestModule} from 'vitest/node'

/**
 * Prints one plain closing line, `Tests: N passed, N failed, N skipped`, after vitest's own
 * report, so CI logs state the count in a form any reader understands.
 *
 * `failed` counts the failed tests plus every test file that failed without a failed test: a
 * file that does not load, one whose `beforeAll` throws (vitest then marks its tests skipped),
 * one whose `afterAll` throws after its tests passed. So the line never reads "0 failed" for a
 * run vitest fails.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0
    let failed = 0
    let skipped = 0
    for (const module of testModules) {
      let failedHere = 0
      for (const test of module.children.allTests()) {
        const state = test.result().state
        if (state === 'passed') passed++
        else if (state === 'failed') failedHere++
        else skipped++
      }

      failed += failedHere
      // The file failed outside its tests (load, hooks): one failure for the file.
      if (module.state() === 'failed' && failedHere === 0) failed++
    }

    process.stdout.write(`\nTests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`)
  }
}
