-- Account deletion: invitations addressed to the deleted user's email, in
-- whatever organization, are removed with the account. Row-level security
-- shows them to the deletion's transaction by app.invitee_email.
CREATE POLICY invitee ON invitations
    USING (email = current_setting('app.invitee_email', true));
