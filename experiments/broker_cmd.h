/* `mqttsim broker`: the engine's broker serving real MQTT clients over TCP. */
#ifndef EXP_BROKER_CMD_H
#define EXP_BROKER_CMD_H

/* `mqttsim broker ARGS`: argv[0] is "broker". Returns the exit status. */
int exp_cmd_broker(int argc, char **argv);

#endif
