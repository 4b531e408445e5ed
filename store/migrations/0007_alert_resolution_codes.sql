-- Why an alert happened and what was done about it (发生原因 / 处置结果), chosen from the
-- agency's lists when an officer resolves it, and kept with that step of the alert's history.
-- A code no longer offered is retired (active = false), never deleted: the history names it.
CREATE TABLE alert_resolution_codes (
    list      text NOT NULL CHECK (list IN ('cause', 'outcome')),
    code      text NOT NULL CHECK (code ~ '^[a-z0-9_]{1,64}$'),
    label_en  text NOT NULL,
    label_zh  text NOT NULL,
    position  integer NOT NULL DEFAULT 0,
    active    boolean NOT NULL DEFAULT true,
    PRIMARY KEY (list, code)
);

INSERT INTO alert_resolution_codes (list, code, label_en, label_zh, position) VALUES
    ('cause', 'deliberate', 'Deliberate violation', '故意违规', 10),
    ('cause', 'unintentional', 'Unintentional (lost, unaware of the zone)', '无意违规（不熟悉区域等）', 20),
    ('cause', 'work_or_medical', 'Work, medical or family emergency', '工作、就医或家庭紧急情况', 30),
    ('cause', 'approved_leave', 'Approved leave not yet recorded', '已批准外出但未登记', 40),
    ('cause', 'gps_drift', 'Weak signal or GPS drift', '信号弱或定位漂移', 50),
    ('cause', 'battery', 'Battery ran out or device switched off', '电量耗尽或设备关机', 60),
    ('cause', 'device_fault', 'Device fault', '设备故障', 70),
    ('cause', 'tampering', 'Device tampered with', '人为破坏设备', 80),
    ('cause', 'other', 'Other (see note)', '其他（见备注）', 90),
    ('outcome', 'false_alarm', 'False alarm: no action', '误报，无需处置', 10),
    ('outcome', 'contacted_compliant', 'Contacted: back in compliance', '已联系，已恢复合规', 20),
    ('outcome', 'verbal_warning', 'Verbal warning', '口头警告', 30),
    ('outcome', 'written_warning', 'Written warning (训诫)', '训诫', 40),
    ('outcome', 'formal_warning', 'Formal warning (警告)', '警告', 50),
    ('outcome', 'device_serviced', 'Device charged, repaired or replaced', '设备已充电、维修或更换', 60),
    ('outcome', 'home_visit', 'Home visit / officer sent', '实地走访', 70),
    ('outcome', 'police_notified', 'Police notified', '通报公安机关', 80),
    ('outcome', 'sanction_proposed', 'Sanction or revocation proposed', '提请治安处罚或撤销', 90),
    ('outcome', 'other', 'Other (see note)', '其他（见备注）', 100);

ALTER TABLE alert_events ADD COLUMN cause text, ADD COLUMN outcome text;
