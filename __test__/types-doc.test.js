// Every public export of the package's types (index.d.ts, built from ts/ by `npm run build:ts`)
// carries a doc comment an editor shows on hover: each exported class, interface, type,
// function and constant, and each public member of an exported class or interface.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const ts = require('typescript')

const root = path.join(__dirname, '..')

/** Names (`Export` or `Export.member`) under the type entry `entry` without a doc comment, and how many exports it has. */
function missingDocs(entry) {
  const program = ts.createProgram([entry], { types: [], skipLibCheck: true })
  const checker = program.getTypeChecker()
  const sf = program.getSourceFile(entry)
  if (sf === undefined) throw new Error(`${entry} not found: run npm run build:ts`)
  const mod = checker.getSymbolAtLocation(sf)
  if (mod === undefined) throw new Error(`${entry} is not a module`)
  const hasDoc = (sym) => sym.getDocumentationComment(checker).length > 0 || (sym.getJsDocTags(checker) || []).length > 0
  const exports = checker.getExportsOfModule(mod)
  const missing = []
  for (const exp of exports) {
    const sym = exp.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exp) : exp
    if (!hasDoc(sym)) missing.push(exp.name)
    const decl = sym.declarations?.[0]
    if (!decl || !(ts.isClassDeclaration(decl) || ts.isInterfaceDeclaration(decl))) continue
    for (const m of decl.members) {
      if (!m.name || ts.isPrivateIdentifier(m.name) || ts.isConstructorDeclaration(m)) continue
      if (ts.getCombinedModifierFlags(m) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) continue
      const ms = checker.getSymbolAtLocation(m.name)
      if (ms && !hasDoc(ms)) missing.push(`${exp.name}.${m.name.getText()}`)
    }
  }
  return { count: exports.length, missing }
}

describe('doc comments on the public types', () => {
  test('every export of index.d.ts and every public member of its classes and interfaces has one', () => {
    expect(fs.existsSync(path.join(root, 'dist', 'index.d.ts'))).toBe(true)
    const { count, missing } = missingDocs(path.join(root, 'index.d.ts'))
    expect(count).toBeGreaterThan(0)
    const report = missing.length === 0 ? '' : `${missing.length} public names without a doc comment:\n  ${missing.join('\n  ')}`
    expect(report).toBe('')
  })

  test('the check finds an undocumented export, member and re-export', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-doccheck-'))
    try {
      fs.writeFileSync(
        path.join(dir, 'a.d.ts'),
        [
          '/** Documented. */',
          'export interface Shown {',
          '  /** Documented. */',
          '  ok: number',
          '  bare: string',
          '}',
          'export declare function hidden(): void',
          '',
        ].join('\n'),
      )
      fs.writeFileSync(path.join(dir, 'index.d.ts'), "export * from './a'\n")
      const { count, missing } = missingDocs(path.join(dir, 'index.d.ts'))
      expect(count).toBe(2)
      expect(missing.sort()).toEqual(['Shown.bare', 'hidden'])
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
