/** The fault-injection suite (`npm run test:faults`): kills workers, restarts Redis, stops receivers. */
import base from './jest.config.js';
export default { ...base, roots: ['<rootDir>/test/faults'], testPathIgnorePatterns: ['/node_modules/'], testTimeout: 120000 };
