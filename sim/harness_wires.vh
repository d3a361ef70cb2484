    // The wires every harness routes (``include``d by sim.top.render_harness before the core's
    // instance): the core's input stream and its output stream's handshake (the harness
    // declares out_payload, whose width is its own), the host player's access (h_*) and the
    // read port of the core it goes to (r_*; sim/host_player.vh).
    wire [EVENT_W-1:0] in_payload;
    wire in_valid, in_ready;
    wire out_valid, out_ready;
    wire [TARGET_W-1:0] h_target;
    localparam REGION_W = 4;  // sim.harness.REGION_BITS: the widest host region enum
    wire [REGION_W-1:0] h_region;
    wire [LANE_W-1:0] h_lane;
    wire [ADDR_W-1:0] h_addr;
    wire [DATA_W-1:0] h_wdata, r_rdata;
    wire h_we, h_re, r_rvalid, r_ready;
    wire core_idle;  // every core drained: the sample player's done waits for it
