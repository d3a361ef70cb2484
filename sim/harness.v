// Simulation harness around the layer core: plays host-port scripts and input samples in
// the simulator and logs what the core answers, so that the cocotb testbench (sim/tb_layer.py)
// wakes once per script or sample instead of once per clock cycle.
//
// Two players, each started by toggling its request input (the testbench writes the script or
// the sample's beats to a hex file first) and finished when its done output rises:
//
// - host player (host_req / host_done; sim/host_player.vh): plays host_count entries of
//   `host.hex`, one host-port access per cycle while the core is ready; read data is logged as
//   "H<hex>". The core is target 0 of the entries' target field.
// - sample player (sample_req / sample_done; sim/sample_player.vh): streams beat_count beats of
//   `beats.hex` into events_in with random gaps, takes output beats with random stalls, logs
//   every output beat taken as "O<hex>"; done rises when the END beat is taken.
//
// Every cycle whose probe carries a sweep row or an STDP update is logged as "P<binary>" (binary
// so that an unknown bit stays one bit: a field beside it is still read exactly); all logs
// go, in order, to `trace.log` in the working directory, flushed when a player finishes.
// `cycles` counts clock cycles since reset.

`default_nettype none

module sim_harness #(
    parameter EVENT_W = 12,
    parameter PROBE_W = 162,
    parameter REGS_W = 79,
    parameter LANE_W = 3,
    parameter ADDR_W = 20,
    parameter DATA_W = 32,
    parameter SWEEP_VALID_BIT = 0,
    parameter LEARN_VALID_BIT = 1,
    parameter END_BIT = 0,
    parameter MAX_BEATS = 1024,
    parameter MAX_HOST = 8192,
    parameter TARGET_W = 1  // the host player's target field: one core, target 0
) (
    `include "harness_ports.vh"
    output wire [3:0] pred_label /*verilator public_flat_rw*/,
    output wire [1:0] error /*verilator public_flat_rw*/
);
    /*verilator public_module*/
    // ---------------- the core ----------------
    `include "harness_wires.vh"
    wire [EVENT_W-1:0] out_payload;
    wire [PROBE_W-1:0] probe;

    layer_core core (
        .clk(clk), .rst(rst), .regs(regs),
        .events_in__payload(in_payload), .events_in__valid(in_valid),
        .events_in__ready(in_ready),
        .events_out__payload(out_payload), .events_out__valid(out_valid),
        .events_out__ready(out_ready),
        .host__region(h_region), .host__lane(h_lane), .host__addr(h_addr),
        .host__wdata(h_wdata), .host__we(h_we), .host__re(h_re), .host__rdata(r_rdata),
        .host__rvalid(r_rvalid), .host__ready(r_ready),
        .error(error), .pred_label(pred_label), .probe(probe)
    );

    `include "sample_player.vh"

    `include "host_player.vh"
    assign core_idle = 1'b1;  // the core sends its END last

    // ---------------- probe ----------------
    always @(posedge clk)
        if (!rst && (probe[SWEEP_VALID_BIT] || probe[LEARN_VALID_BIT]))
            $fwrite(log_fd, "P%b\n", probe);
endmodule

`default_nettype wire
