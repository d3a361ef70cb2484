// Simulation harness around the layer core: plays host-port scripts and input samples in
// the simulator and logs what the core answers, so that the cocotb testbench (sim/tb_layer.py)
// wakes once per script or sample instead of once per clock cycle.
//
// Two players, each started by toggling its request input (the testbench writes the script or
// the sample's beats to a hex file first) and finished when its done output rises:
//
// - host player (host_req / host_done): plays host_count entries of `host.hex`, one host-port
//   access per cycle while the core is ready. An entry is {we, re, region, lane, addr, wdata}.
//   Before an access to another (region, lane) it waits for the reads in flight, as the host
//   port's contract asks (hw/layouts.py, host_signature). Read data is logged as "H<hex>".
// - sample player (sample_req / sample_done): streams beat_count beats of `beats.hex` into
//   events_in, dropping valid in a cycle with probability gap_thr / 65536, and takes output beats
//   with ready dropped with probability stall_thr / 65536 (a free-running LFSR seeded by `seed`).
//   Every output beat taken is logged as "O<hex>"; done rises when the END beat (bit END_BIT of
//   the payload set) is taken.
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
    parameter MAX_HOST = 8192
) (
    // The ports are public to VPI in a Verilator build, and nothing else is (see sim.runner:
    // a design all public simulates several times slower)
    input wire clk /*verilator public_flat_rw*/,
    input wire rst /*verilator public_flat_rw*/,
    input wire [REGS_W-1:0] regs /*verilator public_flat_rw*/,
    input wire host_req /*verilator public_flat_rw*/,
    input wire [31:0] host_count /*verilator public_flat_rw*/,
    output reg host_done /*verilator public_flat_rw*/,
    input wire sample_req /*verilator public_flat_rw*/,
    input wire [31:0] beat_count /*verilator public_flat_rw*/,
    input wire [15:0] gap_thr /*verilator public_flat_rw*/,
    input wire [15:0] stall_thr /*verilator public_flat_rw*/,
    input wire [31:0] seed /*verilator public_flat_rw*/,
    output reg sample_done /*verilator public_flat_rw*/,
    output wire [3:0] pred_label /*verilator public_flat_rw*/,
    output wire [1:0] error /*verilator public_flat_rw*/,
    output reg [63:0] cycles /*verilator public_flat_rw*/
);
    /*verilator public_module*/
    localparam HOST_W = 2 + 3 + LANE_W + ADDR_W + DATA_W;

    // ---------------- the core ----------------
    wire [EVENT_W-1:0] in_payload;
    wire in_valid, in_ready;
    wire [EVENT_W-1:0] out_payload;
    wire out_valid, out_ready;
    wire [2:0] h_region;
    wire [LANE_W-1:0] h_lane;
    wire [ADDR_W-1:0] h_addr;
    wire [DATA_W-1:0] h_wdata, h_rdata;
    wire h_we, h_re, h_rvalid, h_ready;
    wire [PROBE_W-1:0] probe;

    layer_core core (
        .clk(clk), .rst(rst), .regs(regs),
        .events_in__payload(in_payload), .events_in__valid(in_valid),
        .events_in__ready(in_ready),
        .events_out__payload(out_payload), .events_out__valid(out_valid),
        .events_out__ready(out_ready),
        .host__region(h_region), .host__lane(h_lane), .host__addr(h_addr),
        .host__wdata(h_wdata), .host__we(h_we), .host__re(h_re), .host__rdata(h_rdata),
        .host__rvalid(h_rvalid), .host__ready(h_ready),
        .error(error), .pred_label(pred_label), .probe(probe)
    );

    `include "sample_player.vh"

    // ---------------- host player ----------------
    reg [HOST_W-1:0] script [0:MAX_HOST-1];
    reg [31:0] host_ptr, in_flight;
    reg host_busy, host_req_seen;
    reg [2:0] last_region;
    reg [LANE_W-1:0] last_lane;
    reg [1:0] settle;  // cycles after the last access before done (a write lands a cycle later)
    wire [HOST_W-1:0] entry = script[host_ptr];
    wire e_we = entry[HOST_W-1];
    wire e_re = entry[HOST_W-2];
    wire [2:0] e_region = entry[HOST_W-3 -: 3];
    wire [LANE_W-1:0] e_lane = entry[LANE_W+ADDR_W+DATA_W-1 -: LANE_W];
    wire [ADDR_W-1:0] e_addr = entry[ADDR_W+DATA_W-1 -: ADDR_W];
    wire [DATA_W-1:0] e_wdata = entry[DATA_W-1:0];
    wire switching = e_region != last_region || e_lane != last_lane;
    wire issue = host_busy && host_ptr < host_count && h_ready && !(switching && in_flight != 0);
    wire [31:0] in_flight_next = in_flight + {31'd0, issue && e_re} - {31'd0, h_rvalid};

    assign h_region = issue ? e_region : last_region;
    assign h_lane = issue ? e_lane : last_lane;
    assign h_addr = issue ? e_addr : {ADDR_W{1'b0}};
    assign h_wdata = issue ? e_wdata : {DATA_W{1'b0}};
    assign h_we = issue && e_we;
    assign h_re = issue && e_re;

    always @(posedge clk) begin
        if (h_rvalid)
            $fwrite(log_fd, "H%h\n", h_rdata);
        if (rst) begin
            host_busy <= 1'b0;
            host_done <= 1'b0;
            host_req_seen <= 1'b0;
            last_region <= 3'd0;
            last_lane <= {LANE_W{1'b0}};
            in_flight <= 32'd0;
        end else if (host_req != host_req_seen) begin
            host_req_seen <= host_req;
            $readmemh("host.hex", script, 0, host_count - 1);
            host_ptr <= 32'd0;
            in_flight <= 32'd0;
            host_busy <= 1'b1;
            host_done <= 1'b0;
            settle <= 2'd0;
        end else if (host_busy) begin
            in_flight <= in_flight_next;
            if (issue) begin
                host_ptr <= host_ptr + 32'd1;
                last_region <= e_region;
                last_lane <= e_lane;
            end
            if (host_ptr == host_count && in_flight_next == 0 && h_ready) begin
                settle <= settle + 2'd1;
                if (settle == 2'd3) begin
                    host_busy <= 1'b0;
                    host_done <= 1'b1;
                    $fflush(log_fd);
                end
            end
        end
    end

    // ---------------- probe ----------------
    always @(posedge clk)
        if (!rst && (probe[SWEEP_VALID_BIT] || probe[LEARN_VALID_BIT]))
            $fwrite(log_fd, "P%b\n", probe);
endmodule

`default_nettype wire
