// Worker threads do not inherit tsx's loader on Node 20, so a loader thread starts here,
// registers tsx in itself, then imports the TypeScript entry named in workerData.entry.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
