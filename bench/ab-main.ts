/** Runs the A/B section alone and prints it: `node bench/dist/ab-main.js [--quick]`. */
import { run } from './ab-ops'

run({ quick: process.argv.includes('--quick') })
  .then((md) => console.log(md))
  .catch((err) => {
    console.error(err)
    process.exit(1)
  })
