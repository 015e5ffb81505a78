/**
 * Loaded into every test process by `npm test` (`--import`). With `--test-force-exit`, a test
 * file's process exits as soon as its tests are done, and on Node 20 its report to the runner
 * (stdout, a pipe: asynchronous) may not have been written yet: the verdicts still in the
 * buffer are lost from the report (nodejs/node#64833; seen here once in a full run, 4 tests of
 * compile-search missing, exit 0). Blocking writes leave nothing unwritten at exit.
 */
(process.stdout as unknown as { _handle?: { setBlocking?: (on: boolean) => void } })._handle?.setBlocking?.(true);
