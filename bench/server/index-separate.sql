-- index-separate.sql -- the comparison variant (DCF_BENCH_PG_INDEX=separate):
-- what a user would build first, one GiST per dimension, leaving the planner
-- to pick or BitmapAnd them.  See index-multi.sql for the figures.
SET maintenance_work_mem = '2GB';
CREATE INDEX IF NOT EXISTS ops_geog ON ops USING gist (geog);
CREATE INDEX IF NOT EXISTS ops_win ON ops USING gist (win);
CREATE INDEX IF NOT EXISTS ops_alt ON ops USING gist (alt);
