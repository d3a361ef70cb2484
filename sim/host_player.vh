// The host player every harness shares (``include``d into the harness module by
// sim.top.render_harness, after sim/sample_player.vh, which opens log_fd). The harness declares
// the ports host_req, host_count and host_done, the parameters TARGET_W, LANE_W, ADDR_W,
// DATA_W and MAX_HOST, and the wires of sim/harness_wires.vh: the access it routes (h_*,
// driven here) and the read port of the core the access goes to (r_rdata, r_rvalid; r_ready,
// which may depend on e_target, the target of the next entry).
//
// It plays host_count entries of `host.hex`, one access per cycle while the target is ready.
// An entry is {we, re, target, region, lane, addr, wdata}. Before an access to another
// (target, region, lane) it waits for the reads in flight, as the cores' host ports ask
// (hw/layouts.py host_signature, hw/conv_core.py conv_host_signature), and between accesses
// it holds the last one's target, region and lane. Read data is logged as "H<hex>" when
// r_rvalid rises.

    localparam HOST_W = 2 + TARGET_W + REGION_W + LANE_W + ADDR_W + DATA_W;
    localparam PORT_W = TARGET_W + REGION_W + LANE_W;  // {target, region, lane}

    reg [HOST_W-1:0] script [0:MAX_HOST-1];
    reg [31:0] host_ptr, in_flight;
    reg host_busy, host_req_seen;
    reg [PORT_W-1:0] last_port;
    reg [1:0] settle;  // cycles after the last access before done (a write lands a cycle later)
    wire [HOST_W-1:0] entry = script[host_ptr];
    wire e_we = entry[HOST_W-1];
    wire e_re = entry[HOST_W-2];
    wire [PORT_W-1:0] e_port = entry[HOST_W-3 -: PORT_W];
    wire [ADDR_W-1:0] e_addr = entry[ADDR_W+DATA_W-1 -: ADDR_W];
    wire [DATA_W-1:0] e_wdata = entry[DATA_W-1:0];
    wire [TARGET_W-1:0] e_target = e_port[PORT_W-1 -: TARGET_W];
    wire issue = host_busy && host_ptr < host_count && r_ready
                 && !(e_port != last_port && in_flight != 0);
    wire [31:0] in_flight_next = in_flight + {31'd0, issue && e_re} - {31'd0, r_rvalid};
    wire [PORT_W-1:0] h_port = issue ? e_port : last_port;

    assign h_target = h_port[PORT_W-1 -: TARGET_W];
    assign h_region = h_port[LANE_W +: REGION_W];
    assign h_lane = h_port[LANE_W-1:0];
    assign h_addr = issue ? e_addr : {ADDR_W{1'b0}};
    assign h_wdata = issue ? e_wdata : {DATA_W{1'b0}};
    assign h_we = issue && e_we;
    assign h_re = issue && e_re;

    always @(posedge clk) begin
        if (r_rvalid)
            $fwrite(log_fd, "H%h\n", r_rdata);
        if (rst) begin
            host_busy <= 1'b0;
            host_done <= 1'b0;
            host_req_seen <= 1'b0;
            last_port <= {PORT_W{1'b0}};
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
                last_port <= e_port;
            end
            if (host_ptr == host_count && in_flight_next == 0 && r_ready) begin
                settle <= settle + 2'd1;
                if (settle == 2'd3) begin
                    host_busy <= 1'b0;
                    host_done <= 1'b1;
                    $fflush(log_fd);
                end
            end
        end
    end
