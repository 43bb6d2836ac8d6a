/**
 * Runs the rollout-wrapper benchmark and prints its rows: `node bench/dist/rollout-main.js
 * [--quick] [--overhead]` (`--overhead`: only the mode-"native" overhead rows).
 */
import { run, wrapperOverhead } from './rollout-ops'
import { table } from './run'

const quick = process.argv.includes('--quick')
;(process.argv.includes('--overhead') ? wrapperOverhead({ quick }) : run({ quick }))
  .then((rows) => console.log(table(rows)))
  .catch((err) => {
    console.error(err)
    process.exit(1)
  })
