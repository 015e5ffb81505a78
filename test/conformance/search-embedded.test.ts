import { runSearchConformance } from './search-conformance.suite.js';

runSearchConformance({ kind: 'embedded' });
