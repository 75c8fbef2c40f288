-- The tables of fleetcap. sniffer_config is edited by operators with plain SQL; config-sync mirrors it
-- into ZooKeeper through the binlog (Debezium -> Kafka). Values are validated by config-sync, not by
-- CHECK constraints, so that a bad row is reported in agent_status instead of being refused silently
-- to a script that did not look at its error.

CREATE TABLE IF NOT EXISTS sniffer_config (
  agent_id            VARCHAR(64)   NOT NULL,
  device              VARCHAR(64)   NOT NULL,
  bpf_filter          VARCHAR(4096) NOT NULL DEFAULT '',
  splitcap_url        VARCHAR(512)  NOT NULL,
  snaplen             INT           NOT NULL DEFAULT 262144,
  batch_packets       INT           NOT NULL DEFAULT 1000,
  batch_ms            INT           NOT NULL DEFAULT 1000,
  upload_concurrency  INT           NOT NULL DEFAULT 2,
  enabled             TINYINT(1)    NOT NULL DEFAULT 1,
  revision            BIGINT UNSIGNED NOT NULL DEFAULT 1,
  created_at          TIMESTAMP(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at          TIMESTAMP(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (agent_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Every UPDATE increases the revision, even one that does not mention it, so that config-sync and
-- the listener can tell a newer config from a stale or replayed one.
CREATE OR REPLACE TRIGGER sniffer_config_revision BEFORE UPDATE ON sniffer_config
  FOR EACH ROW SET NEW.revision = GREATEST(OLD.revision + 1, NEW.revision);

-- One row per session occurrence: a session key (protocol + both endpoints, canonical order) can
-- occur again after its done marker expires, with a new occurrence number.
CREATE TABLE IF NOT EXISTS session_verdict (
  id               BIGINT UNSIGNED  NOT NULL AUTO_INCREMENT,
  session_key      VARCHAR(160)     NOT NULL,
  occurrence       BIGINT UNSIGNED  NOT NULL DEFAULT 0,
  agent_id         VARCHAR(64)      NOT NULL,
  protocol         ENUM('tcp','udp') NOT NULL,
  client_addr      VARCHAR(45)      NOT NULL,
  client_port      SMALLINT UNSIGNED NOT NULL,
  server_addr      VARCHAR(45)      NOT NULL,
  server_port      SMALLINT UNSIGNED NOT NULL,
  first_packet_at  DATETIME(6)      NOT NULL,
  last_packet_at   DATETIME(6)      NOT NULL,
  packets          INT UNSIGNED     NOT NULL,
  bytes            BIGINT UNSIGNED  NOT NULL,
  label            VARCHAR(64)      NOT NULL,
  score            DOUBLE           NOT NULL,
  model_version    VARCHAR(64)      NOT NULL,
  reason           ENUM('delay','full','closed') NOT NULL,
  classified_at    DATETIME(6)      NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY uq_session_occurrence (session_key, occurrence),
  KEY ix_first_packet (first_packet_at),
  KEY ix_label_time (label, first_packet_at),
  KEY ix_agent_time (agent_id, first_packet_at),
  KEY ix_client (client_addr)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- What each agent reports (mirrored from ZooKeeper /fleetcap/agents/<id>/live by config-sync), and
-- why config-sync refused to push a sniffer_config row, if it did.
CREATE TABLE IF NOT EXISTS agent_status (
  agent_id               VARCHAR(64)     NOT NULL,
  online                 TINYINT(1)      NOT NULL DEFAULT 0,
  pid                    INT UNSIGNED    NULL,
  applied_revision       BIGINT UNSIGNED NULL,
  state                  ENUM('waiting','capturing','error','stopped') NULL,
  last_error             TEXT            NULL,
  config_error           TEXT            NULL,
  config_error_revision  BIGINT UNSIGNED NULL,
  captured               BIGINT UNSIGNED NOT NULL DEFAULT 0,
  kernel_drops           BIGINT UNSIGNED NOT NULL DEFAULT 0,
  batches_uploaded       BIGINT UNSIGNED NOT NULL DEFAULT 0,
  spooled                BIGINT UNSIGNED NOT NULL DEFAULT 0,
  spool_dropped          BIGINT UNSIGNED NOT NULL DEFAULT 0,
  last_seen              DATETIME(3)     NULL,
  updated_at             TIMESTAMP(3)    NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (agent_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
