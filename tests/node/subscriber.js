// The tutorial's subscriber: listens for order updates and prints them.
const { connect, StringCodec } = require("nats");

(async () => {
  const nc = await connect({ servers: process.env.NATS_URL || "nats://localhost:4222" });
  const sc = StringCodec();
  const sub = nc.subscribe("order_updates");
  await nc.flush();
  console.log("Subscribed to order_updates");
  for await (const m of sub) {
    console.log(`Received order update: ${sc.decode(m.data)}`);
  }
})();
