/*
 * schema.c -- the service's numbered schema migrations.
 *
 * RULES.  A migration, once released, is never edited: a change is a new
 * migration with the next number.  The SQL is the portable subset that
 * SQLite and PostgreSQL both accept (TEXT, BIGINT, DOUBLE PRECISION, plain
 * indexes, foreign keys), because the PostgreSQL backend will run the same
 * list.  Times are BIGINT microseconds since the epoch (UTC); JSON columns
 * are TEXT holding compact JSON.
 */
#include "service_int.h"

static const char MIGRATION_1[] = "CREATE TABLE parties ("
                                  "  id TEXT PRIMARY KEY,"
                                  "  name TEXT NOT NULL,"
                                  "  tag BIGINT NOT NULL UNIQUE,"
                                  "  created_at BIGINT NOT NULL);"
                                  "CREATE TABLE desks ("
                                  "  party TEXT NOT NULL REFERENCES parties(id),"
                                  "  level TEXT NOT NULL,"
                                  "  contact TEXT NOT NULL,"
                                  "  updated_at BIGINT NOT NULL,"
                                  "  PRIMARY KEY (party, level));"
                                  "CREATE TABLE tokens ("
                                  "  id TEXT PRIMARY KEY,"
                                  "  party TEXT REFERENCES parties(id),"
                                  "  role TEXT NOT NULL,"
                                  "  label TEXT NOT NULL,"
                                  "  hash TEXT NOT NULL UNIQUE,"
                                  "  created_at BIGINT NOT NULL,"
                                  "  revoked_at BIGINT);"
                                  "CREATE TABLE operations ("
                                  "  id TEXT PRIMARY KEY,"
                                  "  seq BIGINT NOT NULL UNIQUE,"
                                  "  party TEXT NOT NULL REFERENCES parties(id),"
                                  "  version BIGINT NOT NULL,"
                                  "  state TEXT NOT NULL,"
                                  "  t_start BIGINT NOT NULL,"
                                  "  t_end BIGINT NOT NULL,"
                                  "  west DOUBLE PRECISION NOT NULL,"
                                  "  south DOUBLE PRECISION NOT NULL,"
                                  "  east DOUBLE PRECISION NOT NULL,"
                                  "  north DOUBLE PRECISION NOT NULL,"
                                  "  body TEXT NOT NULL,"
                                  "  created_at BIGINT NOT NULL,"
                                  "  updated_at BIGINT NOT NULL);"
                                  "CREATE INDEX operations_party_seq ON operations (party, seq);"
                                  "CREATE INDEX operations_live_end ON operations (state, t_end);"
                                  "CREATE TABLE conflicts ("
                                  "  id TEXT PRIMARY KEY,"
                                  "  seq BIGINT NOT NULL UNIQUE,"
                                  "  op_a TEXT NOT NULL REFERENCES operations(id),"
                                  "  party_a TEXT NOT NULL,"
                                  "  op_b TEXT NOT NULL REFERENCES operations(id),"
                                  "  party_b TEXT NOT NULL,"
                                  "  state TEXT NOT NULL,"
                                  "  overlap TEXT NOT NULL,"
                                  "  sep TEXT NOT NULL,"
                                  "  side_a TEXT NOT NULL,"
                                  "  side_b TEXT NOT NULL,"
                                  "  ack_a TEXT, ack_b TEXT, acc_a TEXT, acc_b TEXT,"
                                  "  opened_at BIGINT NOT NULL,"
                                  "  updated_at BIGINT NOT NULL,"
                                  "  resolved_at BIGINT,"
                                  "  UNIQUE (op_a, op_b));"
                                  "CREATE INDEX conflicts_party_a ON conflicts (party_a, seq);"
                                  "CREATE INDEX conflicts_party_b ON conflicts (party_b, seq);"
                                  "CREATE INDEX conflicts_op_b ON conflicts (op_b);"
                                  "CREATE TABLE events ("
                                  "  party TEXT NOT NULL REFERENCES parties(id),"
                                  "  seq BIGINT NOT NULL,"
                                  "  type TEXT NOT NULL,"
                                  "  data TEXT NOT NULL,"
                                  "  at BIGINT NOT NULL,"
                                  "  PRIMARY KEY (party, seq));"
                                  "CREATE TABLE checks ("
                                  "  id TEXT PRIMARY KEY,"
                                  "  party TEXT NOT NULL REFERENCES parties(id),"
                                  "  token TEXT NOT NULL,"
                                  "  at BIGINT NOT NULL,"
                                  "  conflicts BIGINT NOT NULL,"
                                  "  digest TEXT NOT NULL);";

/* The audit log (audit.c, docs/audit.md): entries by leaf index, which
 * parties each concerns, every complete Merkle node, every signed head. */
static const char MIGRATION_2[] = "CREATE TABLE audit_entries ("
                                  "  idx BIGINT PRIMARY KEY,"
                                  "  at BIGINT NOT NULL,"
                                  "  entry TEXT NOT NULL,"
                                  "  leaf BYTEA NOT NULL);"
                                  "CREATE TABLE audit_concerns ("
                                  "  party TEXT NOT NULL,"
                                  "  idx BIGINT NOT NULL,"
                                  "  PRIMARY KEY (party, idx));"
                                  "CREATE TABLE audit_nodes ("
                                  "  level INTEGER NOT NULL,"
                                  "  idx BIGINT NOT NULL,"
                                  "  hash BYTEA NOT NULL,"
                                  "  PRIMARY KEY (level, idx));"
                                  "CREATE TABLE audit_sths ("
                                  "  seq BIGINT PRIMARY KEY,"
                                  "  tree_size BIGINT NOT NULL,"
                                  "  ts_ms BIGINT NOT NULL,"
                                  "  root BYTEA NOT NULL,"
                                  "  sig BYTEA NOT NULL);";

/* The audit log with one integer key per row, so that each append costs
 * one B-tree insert per row instead of two (a table plus its composite
 * primary key): entries keyed by their index; interior nodes by index * 64
 * + level (leaves are the entries' own leaf column); the parties an entry
 * concerns by the party's tag * 2^40 + index.  INTEGER PRIMARY KEY is a
 * 64-bit key (SQLite's row id; a PostgreSQL backend maps it to BIGINT). */
static const char MIGRATION_3[] =
    "CREATE TABLE audit_entries3 ("
    "  idx INTEGER PRIMARY KEY,"
    "  at BIGINT NOT NULL,"
    "  entry TEXT NOT NULL,"
    "  leaf BYTEA NOT NULL);"
    "INSERT INTO audit_entries3 (idx, at, entry, leaf) "
    "  SELECT idx, at, entry, leaf FROM audit_entries;"
    "DROP TABLE audit_entries;"
    "ALTER TABLE audit_entries3 RENAME TO audit_entries;"
    "CREATE TABLE audit_node (id INTEGER PRIMARY KEY, hash BYTEA NOT NULL);"
    "INSERT INTO audit_node (id, hash) SELECT idx * 64 + level, hash FROM audit_nodes "
    "  WHERE level > 0;"
    "DROP TABLE audit_nodes;"
    "CREATE TABLE audit_party (key INTEGER PRIMARY KEY);"
    "INSERT INTO audit_party (key) SELECT p.tag * 1099511627776 + c.idx "
    "  FROM audit_concerns c JOIN parties p ON p.id = c.party;"
    "DROP TABLE audit_concerns;";

/* The hotline (docs/hotline.md): lines and their members; messages with a
 * per-line sequence number and, per recipient party, its delivery state
 * (`next_escalation` is when it escalates next, NULL when it no longer
 * can); calls with their answer, declines and end; each party's readout of
 * a call.  Times are microseconds; `escalations` and `declines` are JSON
 * arrays. */
static const char MIGRATION_4[] = "CREATE TABLE lines ("
                                  "  id TEXT PRIMARY KEY,"
                                  "  seq BIGINT NOT NULL UNIQUE,"
                                  "  name TEXT NOT NULL,"
                                  "  proposed_by TEXT NOT NULL REFERENCES parties(id),"
                                  "  state TEXT NOT NULL,"
                                  "  created_at BIGINT NOT NULL,"
                                  "  opened_at BIGINT,"
                                  "  last_seq BIGINT NOT NULL,"
                                  "  next_check_at BIGINT,"
                                  "  senior_answer_at BIGINT,"
                                  "  freeze_since BIGINT,"
                                  "  freeze_at BIGINT);"
                                  "CREATE TABLE line_members ("
                                  "  line TEXT NOT NULL REFERENCES lines(id),"
                                  "  party TEXT NOT NULL REFERENCES parties(id),"
                                  "  pos BIGINT NOT NULL,"
                                  "  accepted_at BIGINT,"
                                  "  suspended TEXT,"
                                  "  suspended_at BIGINT,"
                                  "  PRIMARY KEY (line, party));"
                                  "CREATE INDEX line_members_party ON line_members (party, line);"
                                  "CREATE TABLE messages ("
                                  "  line TEXT NOT NULL REFERENCES lines(id),"
                                  "  seq BIGINT NOT NULL,"
                                  "  kind TEXT NOT NULL,"
                                  "  type TEXT NOT NULL,"
                                  "  level TEXT NOT NULL,"
                                  "  sender TEXT,"
                                  "  token TEXT,"
                                  "  body TEXT NOT NULL,"
                                  "  call TEXT,"
                                  "  conflict TEXT,"
                                  "  sent_at BIGINT NOT NULL,"
                                  "  deadline BIGINT,"
                                  "  PRIMARY KEY (line, seq));"
                                  "CREATE INDEX messages_call ON messages (call);"
                                  "CREATE INDEX messages_conflict ON messages (conflict);"
                                  "CREATE TABLE message_rcpt ("
                                  "  line TEXT NOT NULL,"
                                  "  seq BIGINT NOT NULL,"
                                  "  party TEXT NOT NULL,"
                                  "  state TEXT NOT NULL,"
                                  "  delivered_at BIGINT,"
                                  "  acked_at BIGINT,"
                                  "  acked_by TEXT,"
                                  "  reply TEXT,"
                                  "  escalations TEXT NOT NULL,"
                                  "  next_escalation BIGINT,"
                                  "  PRIMARY KEY (line, seq, party));"
                                  "CREATE INDEX message_rcpt_due ON message_rcpt (next_escalation);"
                                  "CREATE TABLE calls ("
                                  "  id TEXT PRIMARY KEY,"
                                  "  seq BIGINT NOT NULL UNIQUE,"
                                  "  line TEXT NOT NULL REFERENCES lines(id),"
                                  "  level TEXT NOT NULL,"
                                  "  topic TEXT NOT NULL,"
                                  "  caller TEXT NOT NULL,"
                                  "  caller_by TEXT,"
                                  "  state TEXT NOT NULL,"
                                  "  started_at BIGINT NOT NULL,"
                                  "  ring_until BIGINT NOT NULL,"
                                  "  answered_at BIGINT,"
                                  "  answered_party TEXT,"
                                  "  answered_by TEXT,"
                                  "  declines TEXT NOT NULL,"
                                  "  missed_at BIGINT,"
                                  "  ended_at BIGINT,"
                                  "  ended_by TEXT);"
                                  "CREATE INDEX calls_line ON calls (line, seq);"
                                  "CREATE INDEX calls_ringing ON calls (state, ring_until);"
                                  "CREATE TABLE readouts ("
                                  "  call TEXT NOT NULL REFERENCES calls(id),"
                                  "  party TEXT NOT NULL,"
                                  "  visibility TEXT NOT NULL,"
                                  "  text TEXT NOT NULL,"
                                  "  by_name TEXT,"
                                  "  filed_at BIGINT NOT NULL,"
                                  "  PRIMARY KEY (call, party));";

/* Web console sessions (session.c): the hash of the cookie's secret, the
 * token it acts as, its CSRF token, its life. */
static const char MIGRATION_5[] = "CREATE TABLE sessions ("
                                  "  hash TEXT PRIMARY KEY,"
                                  "  token TEXT NOT NULL REFERENCES tokens(id),"
                                  "  csrf TEXT NOT NULL,"
                                  "  created_at BIGINT NOT NULL,"
                                  "  expires_at BIGINT NOT NULL,"
                                  "  revoked_at BIGINT);";

/* An entry's row carries, beside its leaf hash, the interior nodes its
 * append completed (audit.c): the column holds 32 * (1 + k) bytes, levels
 * 0..k, where k is the number of trailing one bits of the entry's index.
 * audit_node stops growing; it keeps the nodes of entries appended before
 * this migration, and proofs read them there. */
static const char MIGRATION_6[] = "ALTER TABLE audit_entries RENAME COLUMN leaf TO hashes;";

/* Start-up without JSON (service.c): op_prep holds the binary form
 * (dcf_operation_pack) of every live (planned or active) operation, keyed
 * by its seq, written with every new text of its body and deleted when it
 * completes or is cancelled, so start-up reads this small table and not
 * the operations.  The live operations of an older store enter with no
 * binary form (NULL); start-up parses their JSON text once and writes it.
 * The live operations' index gains their seq, so that start-up can check
 * op_prep against them (count and sum of seqs) from the index alone.  The
 * partial index holds only resolved conflicts, so start-up counts the
 * open ones as all rows (COUNT(*) reads the smallest index) minus the
 * resolved, instead of scanning the table; an open conflict costs it
 * nothing. */
static const char MIGRATION_7[] =
    "CREATE TABLE op_prep (seq INTEGER PRIMARY KEY, prep BYTEA);"
    "DROP INDEX operations_live_end;"
    "CREATE INDEX operations_live_end ON operations (state, t_end, seq);"
    "INSERT INTO op_prep (seq, prep) SELECT seq, NULL FROM operations "
    "  WHERE state IN ('planned', 'active');"
    "CREATE INDEX conflicts_resolved ON conflicts (seq) WHERE state = 'resolved';";

const dcf_store_migration_t dcf_service_migrations[] = {
    {1, MIGRATION_1}, {2, MIGRATION_2}, {3, MIGRATION_3}, {4, MIGRATION_4},
    {5, MIGRATION_5}, {6, MIGRATION_6}, {7, MIGRATION_7},
};
const size_t dcf_service_n_migrations =
    sizeof dcf_service_migrations / sizeof dcf_service_migrations[0];
