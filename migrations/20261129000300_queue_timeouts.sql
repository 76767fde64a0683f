-- Server-side timeouts that protect the queue: a runaway statement or a
-- transaction left open would hold locks and keep dead rows from being
-- vacuumed. PostgREST applies the impersonated role's settings to every
-- request. Where the migration role may not alter a role (some hosted
-- setups), it says so and carries on.
do $$
begin
  begin
    alter role service_role set statement_timeout = '30s';
    alter role service_role set idle_in_transaction_session_timeout = '60s';
  exception when insufficient_privilege then
    raise notice 'could not set timeouts on service_role: %', sqlerrm;
  end;
  begin
    alter role authenticator set idle_in_transaction_session_timeout = '60s';
  exception when insufficient_privilege then
    raise notice 'could not set timeouts on authenticator: %', sqlerrm;
  end;
end $$;
