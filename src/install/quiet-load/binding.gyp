{
  'targets': [
    {
      'target_name': 'rnn_train_quiet_load',
      'sources': ['quiet_load.cc'],
      'cflags_cc': ['-std=c++17'],
      'libraries': ['-ldl'],
    },
  ],
}
