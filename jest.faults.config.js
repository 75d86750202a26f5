/**
 * The fault-injection suite (`npm run test:faults`): kills workers, restarts Redis, stops receivers,
 * cuts the database. One file at a time (maxWorkers 1) even without --runInBand: the scenarios
 * fork workers and lean on stall timers, which a second suite competing for 2 cores would skew.
 * No forceExit (as in the main config): every scenario must close what it opened, and jest
 * staying up ("did not exit") says one did not.
 */
import base from './jest.config.js';
export default {
  ...base,
  roots: ['<rootDir>/test/faults'],
  testPathIgnorePatterns: ['/node_modules/'],
  testTimeout: 120000,
  maxWorkers: 1,
};
