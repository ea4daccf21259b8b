// A real OpenID Connect provider on loopback for the SSO tests (node's oidc-provider,
// with its development login form: any password is accepted for the users below).
// Settings come from the environment:
//   OIDC_ISSUER        http://127.0.0.1:<port>  (the port it listens on is taken from it)
//   OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI
//   OIDC_USERS         {"ada": ["preservation-archivists"], ...}  user -> groups
import Provider from "oidc-provider";

const env = process.env;
const users = JSON.parse(env.OIDC_USERS);
const issuer = new URL(env.OIDC_ISSUER);

const provider = new Provider(env.OIDC_ISSUER, {
  clients: [
    {
      client_id: env.OIDC_CLIENT_ID,
      client_secret: env.OIDC_CLIENT_SECRET,
      redirect_uris: [env.OIDC_REDIRECT_URI],
      response_types: ["code"],
      grant_types: ["authorization_code"],
    },
  ],
  claims: {
    openid: ["sub"],
    email: ["email", "email_verified"],
    profile: ["name", "given_name", "family_name", "preferred_username"],
    groups: ["groups"],
  },
  async findAccount(ctx, id) {
    if (!(id in users)) return undefined;
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: `${id}@archive.example`,
          email_verified: true,
          name: `${id} Tester`,
          given_name: id,
          family_name: "Tester",
          preferred_username: id,
          groups: users[id],
        };
      },
    };
  },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: [env.OIDC_CLIENT_SECRET] },
  pkce: { required: () => false },
});

provider.listen(Number(issuer.port), issuer.hostname, () => {
  console.log(`oidc-provider listening on ${env.OIDC_ISSUER}`);
});
