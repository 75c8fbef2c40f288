-- The record of each session's connection, completed when the connection is over (docs/ARCHITECTURE.md "The record
-- follows the connection"): Zeek's conn_state and history, packets and IP bytes per direction, duration, counted from
-- every packet of the connection (splitcap's record in Redis), not only the first packets the verdict saw. The
-- verdict row is written early; the session-worker's sweeper UPDATEs these columns at the connection's end (both
-- sides closed or one reset, then Zeek's 5 s linger; or idle: Zeek's 5 min TCP, 1 min UDP), so one long SSH or
-- download session is one row. NULL until then (the connection is still open, or the row was classified before this
-- migration). `originator` says which side Zeek calls the originator (orig_*): the client (the sender of the first
-- packet) unless Zeek's rules flip it (a first packet that is a SYN-ACK, a source port that is a server's).

ALTER TABLE session_verdict
  ADD COLUMN conn_state     VARCHAR(8)       NULL AFTER reason,
  ADD COLUMN history        VARCHAR(255)     NULL AFTER conn_state,
  ADD COLUMN originator     ENUM('client','server') NULL AFTER history,
  ADD COLUMN orig_pkts      BIGINT UNSIGNED  NULL AFTER originator,
  ADD COLUMN orig_ip_bytes  BIGINT UNSIGNED  NULL AFTER orig_pkts,
  ADD COLUMN resp_pkts      BIGINT UNSIGNED  NULL AFTER orig_ip_bytes,
  ADD COLUMN resp_ip_bytes  BIGINT UNSIGNED  NULL AFTER resp_pkts,
  ADD COLUMN duration       DOUBLE           NULL AFTER resp_ip_bytes,
  ADD COLUMN completed_at   DATETIME(6)      NULL AFTER duration,
  ADD KEY ix_completed (completed_at);

-- Application metadata of the session, read by the worker from the stored packets with the verdict
-- (lib/src/app-metadata, the same parsers as `fleetcap sessions`): `service` is Zeek's conn.log field (the protocols
-- recognised from the payload, not the port). Text is cut to the column's length; `metadata_truncated` counts the
-- fields cut, `metadata_problems` lists the parsers' reason codes (malformed or truncated data), comma-joined. NULL:
-- not seen in the stored packets.
ALTER TABLE session_verdict
  ADD COLUMN service            VARCHAR(64)       NULL AFTER completed_at,
  ADD COLUMN http_method        VARCHAR(16)       NULL AFTER service,
  ADD COLUMN http_host          VARCHAR(255)      NULL AFTER http_method,
  ADD COLUMN http_uri           VARCHAR(1024)     NULL AFTER http_host,
  ADD COLUMN http_user_agent    VARCHAR(512)      NULL AFTER http_uri,
  ADD COLUMN http_status        SMALLINT UNSIGNED NULL AFTER http_user_agent,
  ADD COLUMN tls_version        VARCHAR(16)       NULL AFTER http_status,
  ADD COLUMN tls_sni            VARCHAR(255)      NULL AFTER tls_version,
  ADD COLUMN tls_alpn           VARCHAR(255)      NULL AFTER tls_sni,
  ADD COLUMN ja4                VARCHAR(64)       NULL AFTER tls_alpn,
  ADD COLUMN dns_query          VARCHAR(255)      NULL AFTER ja4,
  ADD COLUMN dns_qtype          SMALLINT UNSIGNED NULL AFTER dns_query,
  ADD COLUMN dns_rcode          TINYINT UNSIGNED  NULL AFTER dns_qtype,
  ADD COLUMN ssh_client         VARCHAR(255)      NULL AFTER dns_rcode,
  ADD COLUMN ssh_server         VARCHAR(255)      NULL AFTER ssh_client,
  ADD COLUMN hassh              CHAR(32)          NULL AFTER ssh_server,
  ADD COLUMN hassh_server       CHAR(32)          NULL AFTER hassh,
  ADD COLUMN metadata_truncated SMALLINT UNSIGNED NULL AFTER hassh_server,
  ADD COLUMN metadata_problems  VARCHAR(255)      NULL AFTER metadata_truncated,
  ADD KEY ix_service_time (service, first_packet_at),
  ADD KEY ix_tls_sni (tls_sni),
  ADD KEY ix_http_host (http_host);

-- The worker completes rows: it may change these columns and no other.
GRANT UPDATE (conn_state, history, originator, orig_pkts, orig_ip_bytes, resp_pkts, resp_ip_bytes, duration, completed_at)
  ON session_verdict TO '{{WORKER_USER}}'@'%';

-- Every session with its verdict, its connection's record (open = 1 while the connection goes on) and its
-- application metadata.
CREATE OR REPLACE VIEW report_sessions AS
SELECT id, agent_id, session_key, occurrence, community_id, label, score, protocol,
       client_addr, client_port, server_addr, server_port,
       first_packet_at, last_packet_at, packets, bytes, reason, classified_at,
       conn_state, history, originator, orig_pkts, orig_ip_bytes, resp_pkts, resp_ip_bytes, duration, completed_at,
       completed_at IS NULL AS open,
       service, http_method, http_host, http_uri, http_user_agent, http_status,
       tls_version, tls_sni, tls_alpn, ja4, dns_query, dns_qtype, dns_rcode,
       ssh_client, ssh_server, hassh, hassh_server, metadata_truncated, metadata_problems
FROM session_verdict;

GRANT SELECT, SHOW VIEW ON report_sessions TO '{{REPORT_USER}}'@'%';
