// Public types of model-router-native: the drop-in classes and the rollout toolkit.
export * from './dist/index'
