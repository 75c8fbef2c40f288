// What a fault run must show (the CI test and the command line check the same).
import type { FaultRunReport } from './fault-run.ts';

export function failedChecks(r: FaultRunReport): string[] {
  const failed: string[] = [];
  if (r.packets.lost > 0)
    failed.push(`${r.packets.lost} packets acknowledged by splitcap are in no row and no counted drop`);
  if (r.packets.duplicated > 0 || r.duplicateVerdicts > 0)
    failed.push(`${r.duplicateVerdicts} sessions have ${r.packets.duplicated} packets counted twice`);
  if (r.unexpectedOccurrences > 0) failed.push(`${r.unexpectedOccurrences} unexpected second occurrences`);
  if (r.incompleteRows > 0) failed.push(`${r.incompleteRows} rows never completed`);
  const stuck = Object.entries(r.stuck.queues).filter(([, n]) => n !== 0);
  if (stuck.length > 0) failed.push(`messages stuck: ${stuck.map(([q, n]) => `${q}=${n}`).join(', ')}`);
  if (r.stuck.deadLettered > 0) failed.push(`${r.stuck.deadLettered} messages dead-lettered`);
  if (r.stuck.redisSessionKeys > 0) failed.push(`${r.stuck.redisSessionKeys} session keys left in Redis`);
  if (r.unhealthy.length > 0) failed.push(`not healthy at the end: ${r.unhealthy.join(', ')}`);
  if (!r.countedDrops.copied) failed.push('packet_drop did not catch up with the drop counts in Redis');
  if (r.countedDrops.countedNotMissing > 0)
    failed.push(`${r.countedDrops.countedNotMissing} packets counted in packet_drop are in a row too`);
  if (!r.configDelivery.ok) failed.push(`sniffer_config did not reach ZooKeeper: ${r.configDelivery.error}`);
  if (r.batches.rejected > 0) failed.push(`${r.batches.rejected} batches rejected by splitcap`);
  if (r.problems.length > 0 && failed.length === 0) failed.push(...r.problems);
  return failed;
}
