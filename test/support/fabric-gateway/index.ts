export { connectTestClient, type TestClient, type TestClientOptions } from './client.js';
export { contractSimulator } from './contract-simulator.js';
export { GatewayFaults, type TxValidationCodeName } from './faults.js';
export { FABRIC_FIXTURE_DIR, fixtureIdentity, fixtureMsps, fixtureTls, type FixtureIdentity, type FixtureIdentityName } from './fixtures.js';
export type { Block, CommittedTransaction, TransactionStatus } from './ledger.js';
export { startGatewayServer, type GatewayServer, type GatewayServerOptions } from './server.js';
export type { ChaincodeInvocation, ChaincodeSimulator } from './simulator.js';
