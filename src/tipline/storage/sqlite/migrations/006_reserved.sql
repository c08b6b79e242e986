-- Reserved: number 006 belongs to a migration of another branch (the outreach branch was given 007).
-- The runner wants 1..n without gaps, so this empty step keeps 007 applicable on its own; drop this file
-- when the branch that owns 006 is merged.
SELECT 1;
