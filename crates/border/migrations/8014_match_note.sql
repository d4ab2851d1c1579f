-- Why the scoring rule for camera reads (confidence, edits, the candidate trips' expected
-- times) attached a read or left it in review: JSON {"why", "confidence", "best_trip",
-- "best_score", "runner_up_trip", "runner_up_score", "unseen_score"}, NULL when the rule did
-- not look at the read. Shown with the event and in the officers' review queue.
ALTER TABLE border_events ADD COLUMN match_note TEXT;
ALTER TABLE border_review_queue ADD COLUMN match_note TEXT;
