package org.fleetcap.zookeeper;

import java.util.ArrayList;
import java.util.List;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.server.DataNode;
import org.apache.zookeeper.server.ServerCnxn;
import org.apache.zookeeper.server.ZKDatabase;
import org.apache.zookeeper.server.auth.IPAuthenticationProvider;
import org.apache.zookeeper.server.auth.ServerAuthenticationProvider;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * ZooKeeper 3.8 counts no ACL refusal and logs no refused read (its audit log has changes only, and writes
 * result=failure for a refusal as for a node that exists already). This provider takes the place of ZooKeeper's own
 * "ip" scheme (zookeeper.authProvider.ip, stack/stack.sh) and answers as it does, except for one id no TCP client can
 * have, ip:255.255.255.255, which fleetcap puts last in every ACL it sets (lib/src/zookeeper/acl.ts): ZooKeeper
 * tries that entry only when every entry before it failed to grant the permission, that is just before it refuses
 * with NoAuth. Then this writes one line (the grammar: apps/refusal-exporter/src/zookeeper-refusal-line.ts) and
 * grants nothing. A ZooKeeper without this provider reads the entry as a plain ip ACL that matches no client.
 */
public final class AclRefusalLog extends ServerAuthenticationProvider {
    public static final String SENTINEL = "255.255.255.255";
    private static final Logger LOG = LoggerFactory.getLogger("fleetcap.acl-refusal");
    private final IPAuthenticationProvider ip = new IPAuthenticationProvider();

    @Override
    public String getScheme() {
        return ip.getScheme();
    }

    @Override
    public boolean isAuthenticated() {
        return ip.isAuthenticated();
    }

    @Override
    public boolean isValid(String id) {
        return ip.isValid(id);
    }

    @Override
    public KeeperException.Code handleAuthentication(ServerObjs serverObjs, byte[] authData) {
        return ip.handleAuthentication(serverObjs.getCnxn(), authData);
    }

    @Override
    public boolean matches(ServerObjs serverObjs, MatchValues values) {
        if (!SENTINEL.equals(values.getAclExpr())) {
            return ip.matches(values.getId(), values.getAclExpr());
        }
        try {
            ServerCnxn cnxn = serverObjs.getCnxn();
            // A session that added an ip credential of its own has two ip ids: one line per refusal, not per id.
            if (cnxn == null || values.getId().equals(firstIpId(cnxn.getAuthInfo()))) {
                LOG.warn(line(serverObjs, cnxn, values));
            }
        } catch (RuntimeException e) {
            LOG.error("fleetcap acl-refusal: could not describe the refusal of {} on {}", values.getPerm(), values.getPath(), e);
        }
        return false;
    }

    private static String firstIpId(List<Id> ids) {
        for (Id id : ids) {
            if ("ip".equals(id.getScheme())) {
                return id.getId();
            }
        }
        return null;
    }

    private static String line(ServerObjs serverObjs, ServerCnxn cnxn, MatchValues values) {
        List<Id> ids = cnxn == null ? List.of() : cnxn.getAuthInfo();
        List<String> principals = new ArrayList<>();
        for (Id id : ids) {
            if ("digest".equals(id.getScheme())) {
                principals.add(escape(digestUser(id.getId())));
            }
        }
        StringBuilder b = new StringBuilder("fleetcap-acl-refusal");
        b.append("\tsession=").append(cnxn == null ? "unknown" : "0x" + Long.toHexString(cnxn.getSessionId()));
        b.append("\tprincipal=").append(String.join(",", principals));
        b.append("\tip=").append(escape(values.getId()));
        b.append("\tpermission=").append(permissions(values.getPerm()));
        b.append("\tznode=").append(escape(values.getPath()));
        b.append("\tkind=").append(kind(serverObjs, ids, values));
        return b.toString();
    }

    /** anonymous, not-permitted (the right principal, the permission not granted), wrong-password, other-principal. */
    private static String kind(ServerObjs serverObjs, List<Id> ids, MatchValues values) {
        List<String> digests = new ArrayList<>();
        for (Id id : ids) {
            if ("digest".equals(id.getScheme())) {
                digests.add(id.getId());
            }
        }
        if (digests.isEmpty()) {
            return "anonymous";
        }
        List<ACL> acl = nodeAcl(serverObjs, values);
        boolean sameUser = false;
        for (String digest : digests) {
            for (ACL entry : acl) {
                if (!"digest".equals(entry.getId().getScheme())) {
                    continue;
                }
                if (entry.getId().getId().equals(digest)) {
                    return "not-permitted";
                }
                if (digestUser(entry.getId().getId()).equals(digestUser(digest))) {
                    sameUser = true;
                }
            }
        }
        return sameUser ? "wrong-password" : "other-principal";
    }

    /** The ACL ZooKeeper checked: a create or delete is checked against the parent's, the rest against the node's. */
    private static List<ACL> nodeAcl(ServerObjs serverObjs, MatchValues values) {
        String path = values.getPath();
        int perm = values.getPerm();
        if ((perm == ZooDefs.Perms.CREATE || perm == ZooDefs.Perms.DELETE) && path.lastIndexOf('/') >= 0) {
            int slash = path.lastIndexOf('/');
            path = slash == 0 ? "/" : path.substring(0, slash);
        }
        ZKDatabase db = serverObjs.getZks() == null ? null : serverObjs.getZks().getZKDatabase();
        DataNode node = db == null ? null : db.getNode(path);
        List<ACL> acl = node == null ? null : db.aclForNode(node);
        return acl == null ? List.of() : acl;
    }

    private static String digestUser(String digestId) {
        int colon = digestId.indexOf(':');
        return colon < 0 ? digestId : digestId.substring(0, colon);
    }

    private static String permissions(int perm) {
        List<String> names = new ArrayList<>();
        if ((perm & ZooDefs.Perms.READ) != 0) names.add("read");
        if ((perm & ZooDefs.Perms.WRITE) != 0) names.add("write");
        if ((perm & ZooDefs.Perms.CREATE) != 0) names.add("create");
        if ((perm & ZooDefs.Perms.DELETE) != 0) names.add("delete");
        if ((perm & ZooDefs.Perms.ADMIN) != 0) names.add("admin");
        return String.join("|", names);
    }

    /** A principal is what the client sent before ':' in addAuth: any bytes. \ , tab, CR and LF are escaped. */
    private static String escape(String value) {
        StringBuilder b = new StringBuilder(value.length());
        for (char c : value.toCharArray()) {
            switch (c) {
                case '\\': b.append("\\\\"); break;
                case ',': b.append("\\,"); break;
                case '\t': b.append("\\t"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                default:
                    if (c < 0x20 || c == 0x7f) b.append(String.format("\\x%02x", (int) c));
                    else b.append(c);
            }
        }
        return b.toString();
    }
}
