const selki = require("@selki/webhooks");
const fastify = require("fastify")();

fastify.register(async (vectors) => {
  vectors.removeAllContentTypeParsers();
  vectors.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: 10485760 }, (_req, body, done) => done(null, body));
  vectors.post("/vectors", async (req, reply) => {
    const { answer } = await import("./check.mjs");
    const { status, json } = answer(selki, "/vectors", req.body, req.headers);
    return reply.code(status).send(json);
  });
});
fastify.register(async (app) => {
  const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  // recipe:start
  const { Webhook, WebhookVerificationError } = require("@selki/webhooks");

  const wh = new Webhook(SECRET); // "whsec_…" from the webhook's settings

  // Keep the body as bytes: a parsed and re-serialised body fails the signature.
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (_req, body, done) => done(null, body));

  app.post("/webhook", async (req, reply) => {
    try {
      const event = wh.verify(req.body, req.headers);
      return { subscription: event.subscription }; // handle the event
    } catch (err) {
      if (!(err instanceof WebhookVerificationError)) throw err;
      return reply.code(400).send({ error: err.code });
    }
  });
  // recipe:end
});
fastify.listen({ port: Number(process.env.PORT), host: "127.0.0.1" });
