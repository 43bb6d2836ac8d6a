/** Runs the rollout-wrapper benchmark and prints its rows: `node bench/dist/rollout-main.js [--quick]`. */
import { run } from './rollout-ops'
import { table } from './run'

run({ quick: process.argv.includes('--quick') })
  .then((rows) => console.log(table(rows)))
  .catch((err) => {
    console.error(err)
    process.exit(1)
  })
