import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseZookeeperRefusalLine, RefusalLineError } from './zookeeper-refusal-line.ts';

// As ZooKeeper 3.8 with stack/zookeeper/AclRefusalLog.java wrote them (slf4j-simple prefix included).
const read =
  '18592 [SyncThread:0] WARN fleetcap.acl-refusal - fleetcap-acl-refusal\tsession=0x10002d4e7070003\tprincipal=\tip=127.0.0.1\tpermission=read\tznode=/probe-acl\tkind=anonymous';
const create =
  '18622 [ProcessThread(sid:0 cport:12181):] WARN fleetcap.acl-refusal - fleetcap-acl-refusal\tsession=0x10002d4e7070004\tprincipal=probe-admin\tip=127.0.0.1\tpermission=create\tznode=/probe-acl/x\tkind=wrong-password';

test('a refused read by an anonymous client and a refused create by a wrong password, as ZooKeeper logs them', () => {
  assert.deepEqual(parseZookeeperRefusalLine(read), {
    session: '0x10002d4e7070003',
    principals: [],
    ip: '127.0.0.1',
    permission: 'read',
    znode: '/probe-acl',
    kind: 'anonymous',
  });
  const r = parseZookeeperRefusalLine(create);
  assert.deepEqual(
    [r?.principals, r?.permission, r?.znode, r?.kind],
    [['probe-admin'], 'create', '/probe-acl/x', 'wrong-password'],
  );
});

test('every other line of the log is no refusal (the audit log included)', () => {
  for (const line of [
    '',
    '89247 [SyncThread:0] ERROR org.apache.zookeeper.audit.Slf4jAuditLogger - session=0x1\tuser=127.0.0.1\tip=127.0.0.1\toperation=create\tznode=/x\tresult=failure',
    'fleetcap-acl-refusal without a tab',
  ])
    assert.equal(parseZookeeperRefusalLine(line), null);
});

test('escaped principals: several, with a comma, a tab, a newline and a control character in them', () => {
  const line = `fleetcap-acl-refusal\tsession=0xab\tprincipal=a\\,b,c\\td\\ne,f\\x01\\\\\tip=::1\tpermission=read|admin\tznode=/a,b\tkind=other-principal`;
  const r = parseZookeeperRefusalLine(line)!;
  assert.deepEqual(r.principals, ['a,b', 'c\td\ne', 'f\u0001\\']);
  assert.equal(r.permission, 'read|admin');
  assert.equal(r.ip, '::1');
});

test('a marked line not in the grammar is refused with what is wrong', () => {
  const bad: Array<[string, RegExp]> = [
    [read.replace('\tkind=anonymous', ''), /5 fields after "fleetcap-acl-refusal", expected 6/],
    [read.replace('permission=read', 'permission=execute'), /permission=execute is not read/],
    [read.replace('kind=anonymous', 'kind=guest'), /kind=guest is not one of/],
    [read.replace('session=0x10002d4e7070003', 'session=12'), /session=12 is not 0x<hex>/],
    [read.replace('principal=', 'principal=bob'), /kind=anonymous with 1 principal/],
    [read.replace('znode=/probe-acl', 'znode=probe'), /znode=probe is not a path/],
    [read.replace('ip=127.0.0.1', 'ip=\\q'), /a backslash that escapes nothing/],
    [read.replace('\tip=', '\tadr='), /field 3 is "adr=127.0.0.1", expected ip=/],
  ];
  for (const [line, message] of bad)
    assert.throws(
      () => parseZookeeperRefusalLine(line),
      (e: unknown) => e instanceof RefusalLineError && message.test(e.message),
    );
});
