-- Co-defendants (同案犯): people convicted in one case carry its case number. A plan may limit
-- the gathering rule (聚集, alerts/rules/gathering.py) to co-defendants
-- (`gathering_codefendants_only`); the engine reads the number with the rest of the person's
-- row, and the registry change log (0012) already follows every write to supervisees.
ALTER TABLE supervisees ADD COLUMN case_no text
    CHECK (case_no IS NULL OR (length(case_no) BETWEEN 1 AND 100));
CREATE INDEX supervisees_case_no_idx ON supervisees (case_no) WHERE case_no IS NOT NULL;
