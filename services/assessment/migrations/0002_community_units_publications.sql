-- Inputs only assessment has (community activities), the registered units with their population,
-- and the published rankings.

-- Callbacks, household visits, information items and group-defence activities, from the API or from
-- community.activity.v1; the id makes a re-sent activity count once.
CREATE TABLE community_activities (
    activity_id   uuid        PRIMARY KEY,
    type          text        NOT NULL CHECK (type IN ('callback', 'visit', 'information', 'patrol')),
    month         date        NOT NULL,   -- first day of the month, in the station's time zone
    occurred_at   timestamptz NOT NULL,
    station_code  text        NOT NULL,
    grid_code     text,
    officer_id    text,
    case_id       uuid,                   -- callback: the case called back about
    satisfaction  text CHECK (satisfaction IN ('satisfied', 'basically_satisfied', 'dissatisfied', 'unreached')),
    household_key text,                   -- visit: the registered household's key (no personal data)
    participants  integer     CHECK (participants >= 0),  -- patrol: residents taking part
    received_via  text        NOT NULL
);
CREATE INDEX community_month ON community_activities (month, station_code);

-- Stations, grids and officers with their county and registered population (reference data, loaded
-- by `fengqiao-assessment load-reference`); a grid's or officer's station says which county it is in.
CREATE TABLE units (
    kind         text    NOT NULL CHECK (kind IN ('station', 'grid', 'officer')),
    code         text    NOT NULL,
    name         text,
    station_code text    NOT NULL,
    county_code  text    NOT NULL,
    county_name  text,
    households   integer NOT NULL DEFAULT 0 CHECK (households >= 0),
    residents    integer NOT NULL DEFAULT 0 CHECK (residents >= 0),
    PRIMARY KEY (kind, code)
);

-- A month's ranking as published: the rules version and the last applied offset of every source
-- partition say exactly what produced it; revised_at is set when a later event changes that month.
CREATE TABLE publications (
    publication_id uuid        PRIMARY KEY,
    month          date        NOT NULL,
    kind           text        NOT NULL,
    scope          text        NOT NULL,   -- 'city' or a county code
    rules_version  text        NOT NULL,
    published_at   timestamptz NOT NULL DEFAULT now(),
    published_by   text        NOT NULL,
    source_offsets jsonb       NOT NULL,
    items          jsonb       NOT NULL,
    revised_at     timestamptz
);
CREATE INDEX publications_month ON publications (month, kind, scope, published_at DESC);
