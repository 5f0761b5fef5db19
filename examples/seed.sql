-- The directory the example webhooks resolve against: one org with an
-- assistant, a phone number and a contact.
INSERT INTO vapi.agents (vapi_assistant_id, org_id, name) VALUES
  ('asst-reception', 'c0ffee00-0000-4000-8000-000000000001', 'Reception');
INSERT INTO vapi.phone_numbers (vapi_phone_number_id, org_id, number) VALUES
  ('pn-main-line', 'c0ffee00-0000-4000-8000-000000000001', '+15550100000');
INSERT INTO vapi.contacts (org_id, phone, name) VALUES
  ('c0ffee00-0000-4000-8000-000000000001', '+1 (555) 010-4242', 'Dana Whitfield');
