// The tutorial's publisher: sends one order update, flushes and closes.
const { connect, StringCodec } = require("nats");

(async () => {
  const nc = await connect({ servers: process.env.NATS_URL || "nats://localhost:4222" });
  const sc = StringCodec();
  const order = { id: 1, item: "Laptop", quantity: 1 };
  nc.publish("order_updates", sc.encode(JSON.stringify(order)));
  console.log("Published order update");
  await nc.flush();
  await nc.close();
})();
