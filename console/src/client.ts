// The console's way to the API: the very gRPC services internal clients
// call, over gRPC-Web (the server speaks it on its gRPC port), with a
// console session's token (or any API key) as the bearer credential.
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";

import { ApiKeyService } from "./gen/selki/webhooks/v1/api_key_service_pb";
import { EventService } from "./gen/selki/webhooks/v1/event_service_pb";
import { WebhookService } from "./gen/selki/webhooks/v1/webhook_service_pb";

export interface SelkiClient {
  webhooks: Client<typeof WebhookService>;
  events: Client<typeof EventService>;
  keys: Client<typeof ApiKeyService>;
}

/** Clients of every service at `baseUrl` (e.g. "https://selki.example.com"), as `token`. */
export function selkiClient(baseUrl: string, token: string): SelkiClient {
  const bearer: Interceptor = (next) => (request) => {
    request.header.set("authorization", `Bearer ${token}`);
    return next(request);
  };
  const transport = createGrpcWebTransport({ baseUrl, interceptors: [bearer] });
  return {
    webhooks: createClient(WebhookService, transport),
    events: createClient(EventService, transport),
    keys: createClient(ApiKeyService, transport),
  };
}
