// Drive passport-cas (a CAS client nobody here wrote) as passport would: authenticate() a request
// without a ticket (it must redirect to the CAS login), then one with the ticket (it validates
// it with CAS 3.0 p3/serviceValidate). Prints one JSON line: what the strategy decided.
//   node validate.js <cas base URL> <service URL> [ticket]
const CasStrategy = require("passport-cas").Strategy;
const { URL } = require("url");

const [casBase, service, ticket] = process.argv.slice(2);
const serviceUrl = new URL(service);
const strategy = new CasStrategy({
  version: "CAS3.0",
  ssoBaseURL: casBase,
  serverBaseURL: serviceUrl.origin,
  serviceURL: serviceUrl.pathname + serviceUrl.search,
}, (profile, done) => done(null, profile));

function answer(result) {
  process.stdout.write(JSON.stringify(result) + "\n");
}
strategy.success = (user) => answer({ outcome: "success", user });
strategy.fail = (info) => answer({ outcome: "fail", info: String(info) });
strategy.error = (err) => answer({ outcome: "error", error: String(err && err.message) });
strategy.redirect = (url) => answer({ outcome: "redirect", url });

const query = ticket ? { ticket } : {};
strategy.authenticate({
  query,
  originalUrl: serviceUrl.pathname + serviceUrl.search,
  param: (name) => query[name],
  logout: () => {},
});
