'use strict'
// CommonJS entry point: the compiled TypeScript drop-in layer.
module.exports = require('./dist/index.js')
