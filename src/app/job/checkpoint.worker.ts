/**
 * The host's checkpoint worker entry (a module Worker): its CheckpointStores, so that checking,
 * keeping and re-cutting checkpoints never runs on the dashboard's thread (checkpoint-keeper.ts).
 */
import { CheckpointKeeperCore, type KeeperPort, type KeeperReply, type KeeperRequest } from './checkpoint-keeper.js';

new CheckpointKeeperCore(self as unknown as KeeperPort<KeeperReply, KeeperRequest>);
