/** Jest runs the compiled package: `npm ci` (or `npm run build`) builds it first. */
module.exports = {
  testEnvironment: 'node',
  testMatch: ['<rootDir>/__test__/**/*.test.js'],
  // Tests import the package by its public name, as users do.
  moduleNameMapper: { '^model-router-native$': '<rootDir>/index.cjs' },
  testTimeout: 60000,
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/__test__/summary-reporter.cjs'],
}
