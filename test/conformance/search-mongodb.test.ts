import { it } from 'node:test';
import { runSearchConformance } from './search-conformance.suite.js';

const uri = process.env.MONGODB_URI;

if (!uri) {
  it('search conformance: mongodb', {
    skip: 'MONGODB_URI not set: no MongoDB server on this machine; set it to a replica-set URI to run the search conformance suite against MongoDB',
  }, () => {});
} else {
  runSearchConformance({ kind: 'mongodb', uri });
}
