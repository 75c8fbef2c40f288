-- One account per role, least privilege each. Passwords come from the environment
-- (FLEETCAP_MYSQL_<ROLE>_PASSWORD), local-stack defaults otherwise. Host '%': the servers listen on
-- loopback here; restrict the host part in a real deployment.

-- session-worker: inserts verdicts (INSERT IGNORE keeps the insert idempotent without UPDATE) and reads them.
CREATE USER IF NOT EXISTS '{{WORKER_USER}}'@'%' IDENTIFIED BY '{{WORKER_PASSWORD}}';
GRANT SELECT, INSERT ON session_verdict TO '{{WORKER_USER}}'@'%';

-- Reporting: reads tables and views, writes nothing.
CREATE USER IF NOT EXISTS '{{REPORT_USER}}'@'%' IDENTIFIED BY '{{REPORT_PASSWORD}}';
GRANT SELECT, SHOW VIEW ON session_verdict TO '{{REPORT_USER}}'@'%';
GRANT SELECT ON sniffer_config TO '{{REPORT_USER}}'@'%';
GRANT SELECT ON agent_status TO '{{REPORT_USER}}'@'%';
GRANT SELECT, SHOW VIEW ON report_verdicts_per_label_hour TO '{{REPORT_USER}}'@'%';
GRANT SELECT, SHOW VIEW ON report_verdicts_per_agent TO '{{REPORT_USER}}'@'%';
GRANT SELECT, SHOW VIEW ON report_top_talkers TO '{{REPORT_USER}}'@'%';
GRANT SELECT, SHOW VIEW ON report_malicious_sessions TO '{{REPORT_USER}}'@'%';
GRANT SELECT, SHOW VIEW ON report_agents TO '{{REPORT_USER}}'@'%';

-- Debezium: the grants its MariaDB connector documents (snapshot reads, binlog streaming).
CREATE USER IF NOT EXISTS '{{CDC_USER}}'@'%' IDENTIFIED BY '{{CDC_PASSWORD}}';
GRANT SELECT, RELOAD, SHOW DATABASES, LOCK TABLES, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '{{CDC_USER}}'@'%';

-- config-sync: reads configs (its fallback when it cannot trust the change stream), writes status.
CREATE USER IF NOT EXISTS '{{CONFIGSYNC_USER}}'@'%' IDENTIFIED BY '{{CONFIGSYNC_PASSWORD}}';
GRANT SELECT ON sniffer_config TO '{{CONFIGSYNC_USER}}'@'%';
GRANT SELECT, INSERT, UPDATE ON agent_status TO '{{CONFIGSYNC_USER}}'@'%';
