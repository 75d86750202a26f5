// A small rule set: the recommended checks of ESLint and typescript-eslint (no type information,
// so it stays fast), with the few the codebase deliberately departs from turned off.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['build/', 'dist/', 'coverage/', 'node_modules/', '.pack-check.*/', '.ci/consumer/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    rules: {
      // Tests and driver glue read untyped rows and library internals.
      '@typescript-eslint/no-explicit-any': 'off',
      // Nest's own metadata APIs type class references as `Function`.
      '@typescript-eslint/no-unsafe-function-type': 'off',
      // Escaping control characters is part of the job (log safety, unstorable text).
      'no-control-regex': 'off',
      '@typescript-eslint/no-unused-expressions': ['error', { allowShortCircuit: true, allowTernary: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
);
